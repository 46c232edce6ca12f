from cello.grpc import GrpcServer

server = GrpcServer(host="localhost", port=50051)
server.register_service(UserService())
server.register_service(OrderService())

# Start/stop
await server.start()
await server.stop()

# Query registered services
print(server.get_services())  # {"UserService": <UserService>, "OrderService": <OrderService>}
