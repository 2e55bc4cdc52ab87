"""The live monitor's panels (screens/monitor.py lays them out)."""
