{
  "targets": [
    {
      "target_name": "ctl_block_native",
      "sources": ["ctl_block_native.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-O2"]
    }
  ]
}
