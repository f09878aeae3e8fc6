"""The driver: validate the call, connect to Ray, plan the copies on the cluster (capacity, MAX,
fit), run the sweep config after config on pools of copies, show progress, and compile sweeps.
Imports every room below it.
"""
