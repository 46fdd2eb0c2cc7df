// EmberData: datasets, loaders, file readers and built-in datasets.
//
//   Dataset/   the `Dataset` protocol, `TensorDataset`, `ImageDataset`, `SlidingWindows`, `Subset`, `AnyDataset`
//   Loader/    `DataLoader` (batching, seeded shuffling, collation, prefetching), samplers
//   Readers/   IDX, CIFAR-10, CSV, .npy/.npz, with transparent gzip (`ByteReader`)
//   Builtin/   `Datasets`: digits, iris, wine (bundled), Fashion-MNIST (Debian package), MNIST and CIFAR-10 (your files)
//   Errors/    `DataError`, the one error type for bad external data
@_exported import EmberCore
