"""Post-run analysis of Surge output tables: Perez phase detection and charts."""
