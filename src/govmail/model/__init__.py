"""The regulation as data: profiles, the settings model, units, naming rules, working days."""
