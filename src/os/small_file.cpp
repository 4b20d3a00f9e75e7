#include "os/small_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace hakmem::os {

long read_small_file(const char* path, char* buf, std::size_t size) {
  const int saved = errno;
  long n = -1;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && size > 0) {
    n = ::read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
  }
  if (fd >= 0) ::close(fd);
  errno = saved;
  return n;
}

}  // namespace hakmem::os
