# %% [markdown]
# # Chapter 6

# %%
print(6)
