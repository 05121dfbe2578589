"""What can be built: the variants and the torch compatibility table (the
data in env/), and the selection of one variant from flags. Imports core."""
