"""Working in the team's images every day: `invoke run` and `invoke shell`
(as the caller, the checkout mounted, caches kept, GPUs when there are some)
and `invoke pull`. Imports every package above it."""
