# %% [markdown]
# # Chapter 3

# %%
print(3)
