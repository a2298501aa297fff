"""One module per imitated server: BCDA, AB2D and a standards-following SMART Bulk Data server."""
