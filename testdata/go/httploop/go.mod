module httploop

go 1.19
