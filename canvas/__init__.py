"""Canvas: a live market-data server for trading charts."""
