"""What is observed: arrays, the measurement operator and the loss of the end-to-end object."""
