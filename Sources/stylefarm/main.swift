import StyleFarmCLI
StyleFarmCommand.main()
