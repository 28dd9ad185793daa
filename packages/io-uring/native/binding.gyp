{
  "targets": [
    {
      "target_name": "io_uring_native",
      "sources": ["io_uring_native.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"],
      "libraries": ["-l:liburing.a"]
    }
  ]
}
