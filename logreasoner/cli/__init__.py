"""logreasoner/cli"""
