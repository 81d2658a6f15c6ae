print("advd")
