"""Network-lab tests: several hosts in network namespaces, real mDNS between them (root)."""
