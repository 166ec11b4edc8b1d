import StyleFarmCLI
bootstrapLogging()
StyleFarmCommand.main()
