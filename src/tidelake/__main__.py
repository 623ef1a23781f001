from tidelake.cli import main

main()
