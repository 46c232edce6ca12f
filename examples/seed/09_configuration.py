from cello import App, GrpcConfig

app = App()
app.enable_grpc(GrpcConfig(
    port=50051,
    max_message_size=4_194_304,   # 4MB
    reflection=True,
    enable_web=True,
    keepalive_secs=60,
    concurrency_limit=100
))
