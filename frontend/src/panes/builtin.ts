// Importing this module registers every built-in pane. New built-ins add one line here.
import './welcome'
import './resources'
import './files'
import './viewer'
