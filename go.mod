module github.com/poet-operator/poet-operator

go 1.26.8
