from cello import App, GrpcConfig
from cello.grpc import GrpcService, grpc_method, GrpcServer, GrpcRequest, GrpcResponse

app = App()
app.enable_grpc(GrpcConfig(port=50051, reflection=True))

class UserService(GrpcService):
    @grpc_method
    async def GetUser(self, request):
        return GrpcResponse.ok({"id": 1, "name": "Alice"})

    @grpc_method(stream=True)
    async def ListUsers(self, request):
        return GrpcResponse.ok({"users": [{"id": 1}, {"id": 2}]})

server = GrpcServer(host="localhost", port=50051)
server.register_service(UserService())
await server.start()
