"""govmail: a provincial government mail system that obeys its province's regulation."""
