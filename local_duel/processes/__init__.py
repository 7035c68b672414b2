"""Child processes: a free loopback port, a throwaway Redis, `local-duel serve` for
tests and benchmarks, and the allocator setting every process starts with."""
