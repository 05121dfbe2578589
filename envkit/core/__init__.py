"""The foundation every stage uses: errors a user sees, external commands,
settings, the Docker engine and a BuildKit client, the host's GPUs,
provenance, the files under reports/, signal handling. Imports nothing of
envkit outside core."""
