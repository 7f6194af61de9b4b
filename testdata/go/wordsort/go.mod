module wordsort

go 1.19
