module sigterm

go 1.19
