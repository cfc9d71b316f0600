"""The `tfladder` command (main): a thin layer over the other packages' functions; demo (`make
demo`) and lab (`make lab`: JupyterLab with students' kernels and formgrader).
"""
