# %% [markdown]
# # Chapter 5

# %%
print(5)
