"""Security for kent-lsi: the county PKI (pki), mutual TLS for gRPC (tls), and test fixtures (testing)."""
