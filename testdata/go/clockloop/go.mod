module clockloop

go 1.19
