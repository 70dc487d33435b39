from pros.cli import app

app(prog_name="pros")
