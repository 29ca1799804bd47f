"""thoughts_db"""
