"""Development tools shared by the tests and the benchmark (never imported by the product):
throwaway PostgreSQL and Redis servers, and the whole service as real processes."""
