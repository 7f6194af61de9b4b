module rtcheck

go 1.19
