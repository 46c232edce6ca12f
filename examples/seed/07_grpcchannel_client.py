from cello.grpc import GrpcChannel, GrpcRequest

channel = await GrpcChannel.connect("localhost:50051")

response = await channel.call(
    service="UserService",
    method="GetUser",
    request=GrpcRequest(data={"id": 1})
)

print(response.data)  # {"id": 1, "name": "Alice"}
await channel.close()
