module reexec

go 1.19
