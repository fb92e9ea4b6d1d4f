"""Small pieces both the county server and the analysts' library use: estimates, config reading, wire words."""
