"""Conferences (Q-loud §3.17, §7.11): the rooms that run, and the registry the API reads."""
