from jp2040.cli import main

main()
