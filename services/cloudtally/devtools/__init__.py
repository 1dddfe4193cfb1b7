"""Developer and test tooling: throwaway servers; not used by the pipeline itself."""
