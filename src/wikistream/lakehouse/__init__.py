"""The only package that talks to PyIceberg: catalog, table definitions, commits, positions."""
