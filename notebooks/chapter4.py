# %% [markdown]
# # Chapter 4

# %%
print(4)
