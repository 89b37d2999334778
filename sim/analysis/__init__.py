"""What is computed about the model rather than by it: closed forms the tests hold the
simulation against (`analytic`) and the calibration against observed nights (`calibrate`)."""
