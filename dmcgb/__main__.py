"""``python -m dmcgb``: print the README's tables of env ids and modes, from the registries."""

from dmcgb.registration import readme_tables

print(readme_tables(), end="")
