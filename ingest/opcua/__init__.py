"""The OPC-UA connector: subscribes to a server's variables with asyncua and publishes their values."""
