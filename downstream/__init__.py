"""Face benchmarks: dataset loaders, backbones, cached features, protocols, metrics, tables and plots."""
