"""`invoke publish`: tags computed from measurements, the publish gate, the
registry API and the push itself. Imports every package above it."""
