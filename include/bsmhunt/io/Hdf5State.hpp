#pragma once

namespace bsmhunt::io {

// True once HDF5 has failed to close a file (a flush on a full disk, for example), or
// a parallel file was left unclosed by an exception (h5::Handle::reset). HDF5 1.10
// then holds a file whose close would crash or hang in the shutdown MPI_Finalize runs;
// main() ends such a process without that shutdown.
bool hdf5_file_close_failed() noexcept;

}  // namespace bsmhunt::io
